"""Sans-I/O HTTP/1.x: request encoding, incremental response parsing, body decoding."""
