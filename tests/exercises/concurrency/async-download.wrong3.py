# Awaits the downloads one after another: correct results, never concurrent.
import asyncio

async def download(name):
    await asyncio.sleep(0.2)
    return f"{name}: {len(name)} 字节"

async def download_all(names):
    return [await download(n) for n in names]

def main(names):
    return asyncio.run(download_all(names))
