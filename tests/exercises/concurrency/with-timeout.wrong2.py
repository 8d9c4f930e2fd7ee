# Returns the default in time but leaves the slow job running in the background.
import asyncio

async def with_timeout(coro, seconds, default):
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return task.result() if done else default
