"""Platform SDKs run on an event loop in a thread of the test's own; this ends such a loop cleanly."""
from __future__ import annotations

import asyncio


def finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on a stopped loop, let it unwind, and close the loop, in the
    loop's thread. Left pending, an SDK's coroutine (a websocket's recv) is collected later, inside
    whichever test runs then, and fails there with "Event loop is closed"."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
