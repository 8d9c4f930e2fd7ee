# No deadline at all: waits for the slow job and returns its result.
async def with_timeout(coro, seconds, default):
    return await coro
