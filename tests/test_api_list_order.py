"""GET /v1/invoices?order=desc: newest first, cursor paging that never skips or repeats an invoice,
even while the till keeps issuing; the last page says so (no empty page to fetch). Real daemon + SQLite."""
from __future__ import annotations

import aiohttp

from daemon_fixtures import VALID_BODY


async def issue(d, http, key):
    async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY, headers={**d.auth, "Idempotency-Key": key}) as r:
        assert r.status == 201
        return (await r.json())["id"]


async def get(d, http, query):
    async with http.get(d.base_url + "/v1/invoices?" + query, headers=d.auth) as r:
        return r.status, await r.json()


async def walk(d, http, query, *, between=None):
    ids, after, pages = [], 0, 0
    while True:
        status, page = await get(d, http, f"{query}&after={after}")
        assert status == 200, page
        ids += [i["id"] for i in page["items"]]
        pages += 1
        if between:
            await between()
        if page["next_after"] is None:
            return ids, pages
        assert page["items"], "a page with a next_after must not be empty"
        after = page["next_after"]


async def test_newest_first_pages_cover_everything_once_while_issuing(daemon):
    async with aiohttp.ClientSession() as http:
        made = [await issue(daemon, http, f"d{i}") for i in range(7)]
        status, first = await get(daemon, http, "order=desc&limit=3")
        assert [i["id"] for i in first["items"]] == made[::-1][:3] and first["next_after"] == made[4]
        counter = iter(range(100))

        async def sell():  # the till does not stop while someone scrolls the list
            await issue(daemon, http, f"during-{next(counter)}")

        ids, pages = await walk(daemon, http, "order=desc&limit=3", between=sell)
        assert ids == made[::-1] and pages == 3  # 3 + 3 + 1, newer sales are not mixed in
        # exactly full last page: no next page to fetch, in either order
        total = len(made) + pages
        ids_desc, pages_desc = await walk(daemon, http, f"order=desc&limit={total}")
        ids_asc, pages_asc = await walk(daemon, http, "order=asc&limit=5")
        assert pages_desc == 1 and ids_desc == sorted(ids_desc, reverse=True) and len(ids_desc) == total
        assert ids_asc == ids_desc[::-1] and pages_asc == 2


async def test_newest_first_with_a_state_filter_and_bad_order(daemon):
    store = daemon.daemon.state.store
    async with aiohttp.ClientSession() as http:
        made = [await issue(daemon, http, f"s{i}") for i in range(5)]
        for i in (made[1], made[3]):
            await store.mark_sending(i, "session-ref-1")
        status, page = await get(daemon, http, "order=desc&state=sending&limit=1")
        assert [i["id"] for i in page["items"]] == [made[3]] and page["next_after"] == made[3]
        status, page = await get(daemon, http, f"order=desc&state=sending&limit=1&after={made[3]}")
        assert [i["id"] for i in page["items"]] == [made[1]] and page["next_after"] is None
        status, page = await get(daemon, http, "order=desc&state=issued")
        assert [i["id"] for i in page["items"]] == [made[4], made[2], made[0]]
        status, err = await get(daemon, http, "order=newest")
        assert status == 400 and err["error"]["field"] == "order" and "desc" in err["error"]["message"]
