"""The live dashboard of a node: counts by completion level, trends, and the map of provinces.

Counts come from counter tables kept up to date in the transaction that
changes tasks (`counters`), so they stay fast at a million tasks. Open pages
learn of changes through server-sent events (`events`).
"""
