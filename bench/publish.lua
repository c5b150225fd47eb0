-- wrk script: single-event publishes of a ~100-byte event, spread over 64 topics.
-- Usage: wrk -t2 -c64 -d20s -s bench/publish.lua http://127.0.0.1:8080
local counter = 0
request = function()
  counter = counter + 1
  local topic = "bench." .. (counter % 64)
  local body = '{"type":"bench","data":{"n":' .. counter .. ',"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}'
  return wrk.format("POST", "/v1/topics/" .. topic .. "/events", {["content-type"] = "application/json"}, body)
end
