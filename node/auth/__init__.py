"""Accounts of one node: users, scoped roles, sign-in, web sessions, CSRF and API tokens."""
