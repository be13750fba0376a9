-- wrk script: every request is a new conversation (no duplicates), so each one is
-- journaled. Usage: wrk -s bench/webhook.lua URL -- <run-label>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  n = 0
  prefix = (args[1] or "run") .. "-" .. tid
end
function request()
  n = n + 1
  local body = string.format(
    '{"interactionId":"bench-%s-%d","sentiment":{"score":-0.25,"polarity":"negative"},"agentId":"agent-%d","queueId":"queue-1"}',
    prefix, n, n % 400)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
