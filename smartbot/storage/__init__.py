"""Storage: the database engine and its transactions, the tables, durable queues with leases,
group commit, and state every node shares."""
