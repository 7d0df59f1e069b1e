import aiohttp

from tests._aioresponses_compat import compat_aioresponses


async def test_mocked_response_builds_on_current_aiohttp() -> None:
    with compat_aioresponses() as mocked:
        mocked.get("http://127.0.0.1:9/x", payload={"ok": True}, status=201)
        async with aiohttp.ClientSession() as session, session.get("http://127.0.0.1:9/x") as r:
            assert r.status == 201
            assert await r.json() == {"ok": True}
