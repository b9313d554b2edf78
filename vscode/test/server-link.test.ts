/** The connect command's checks: each way a connection fails gets a message that says what to do. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConnectError, checkServer, normaliseUrl } from "../src/server-link";

/** A fetch that answers each URL with a status, or fails like an unreachable host. */
function fakeFetch(statuses: Record<string, number | "down">, seen: Headers[] = []): typeof fetch {
  return (async (url: string, init?: RequestInit) => {
    seen.push(new Headers(init?.headers));
    const status = statuses[url];
    if (status === "down" || status === undefined) throw new TypeError("fetch failed");
    return new Response("{}", { status });
  }) as typeof fetch;
}

const URL_ = "http://127.0.0.1:8888/";

test("URLs get a scheme and a trailing slash, and lose query and fragment", () => {
  assert.equal(normaliseUrl("localhost:8888"), "http://localhost:8888/");
  assert.equal(normaliseUrl(" https://hub.example/user/a?token=x#y "), "https://hub.example/user/a/");
  assert.throws(() => normaliseUrl("http://"));
});

test("a good server and token pass, the token sent as a header", async () => {
  const seen: Headers[] = [];
  await checkServer(URL_, "t0k", fakeFetch({ [`${URL_}api/status`]: 200, [`${URL_}cnnvis/api/status`]: 200 }, seen));
  assert.equal(seen[0].get("Authorization"), "token t0k");
});

test("a refused token, a missing extension and an unreachable server say so", async () => {
  const cases: [Record<string, number | "down">, RegExp][] = [
    [{ [`${URL_}api/status`]: 403 }, /refused the token \(HTTP 403\).*Connect to Jupyter Server/],
    [{ [`${URL_}api/status`]: 401 }, /refused the token/],
    [{ [`${URL_}api/status`]: 200, [`${URL_}cnnvis/api/status`]: 404 }, /does not have the cnnvis extension: pip install cnnvis/],
    [{ [`${URL_}api/status`]: "down" }, /Could not reach a Jupyter server/],
    [{ [`${URL_}api/status`]: 500 }, /did not answer like a Jupyter server/],
  ];
  for (const [statuses, message] of cases) {
    await assert.rejects(checkServer(URL_, "t", fakeFetch(statuses)), (err: Error) => err instanceof ConnectError && message.test(err.message));
  }
});
