"""What the room collected: per-minute sensor history, the day's figures per bin, the daily
document for the platform and collection supervision (清运监管). See docs/stats.md.

- `series`: per-minute history of every sensor (for plots; the console reads it too)
- `accounting`: pure: filtered fill readings in, the day's litres / emptyings / minutes full out
- `overdue`: pure: the collection schedule in, `collection_overdue` open / resolve events out
- `daily`: the daily statistics document (`garbage-edge/daily@1`) and which days are due
- `service`: the agent's side: feeds the above, keeps their state on disk, queues the documents
"""
