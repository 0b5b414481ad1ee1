"""Append N audit rows to DATABASE (run as a separate process by the concurrency test)."""

import sys

from bot.store import audit
from bot.store.db import Database

url, count, actor = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = Database(url)
for i in range(count):
    with db.session() as session:
        audit.append(session, "requested", actor, details={"i": i})
db.dispose()
