-- wrk script: batches of 100 ~100-byte events per request on one topic.
-- Usage: wrk -t2 -c16 -d20s -s bench/publish_batch.lua http://127.0.0.1:8080
local events = {}
for i = 1, 100 do
  events[i] = '{"data":{"n":' .. i .. ',"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}'
end
local body = "[" .. table.concat(events, ",") .. "]"
request = function()
  return wrk.format("POST", "/v1/topics/bench.batch/events", {["content-type"] = "application/json"}, body)
end
