"""The run's durable state: the SQLite store (`store`), how a run starts over it (`modes`), and
what ``fetchall status`` reads from it (`status`)."""
