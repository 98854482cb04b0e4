"""The node's scheduler: periodic jobs run by exactly one runner per database."""
