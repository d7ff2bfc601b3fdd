-- POST /api/chat with a bearer token (env BENCH_TOKEN), a different message on every request (each starts a new
-- conversation, so every request does the full turn: session, routing, two transactions, memory search).
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

local token = os.getenv("BENCH_TOKEN") or error("set BENCH_TOKEN")
local topics = {"the garden", "a trip to Lisbon", "pgvector indexes", "the weekly report", "birthday ideas",
                "python asyncio", "the quarterly budget", "a reading list"}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  n = n + 1
  local body = string.format('{"message": "Please remind me about %s, note %d-%d"}', topics[(n % #topics) + 1], id, n)
  return wrk.format(nil, nil, nil, body)
end

done = report.done
