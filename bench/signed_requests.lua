-- wrk script: replays pre-signed generic webhook requests, each thread its own slice, so every
-- request is a new event (nothing is deduplicated away). File lines: timestamp|signature|body
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local nthreads = tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == (tid - 1) then
      local ts, sig, body = line:match("^([^|]+)|([^|]+)|(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/webhooks/generic",
        {["Content-Type"] = "application/json", ["X-SmartBot-Timestamp"] = ts,
         ["X-SmartBot-Signature"] = sig}, body)
    end
    i = i + 1
  end
  idx = 0
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end
