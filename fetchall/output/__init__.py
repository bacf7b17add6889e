"""Output: URL to safe path, atomic body files, the JSONL report."""
