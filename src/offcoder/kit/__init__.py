"""Request plumbing every domain shares: pagination, transactions, typed dependencies."""
