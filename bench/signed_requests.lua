-- wrk script: replays pre-signed generic webhook requests, each thread its own slice, so every
-- request is a new event (nothing is deduplicated away). File lines: timestamp|signature|body
-- Arguments: file, threads [, path, timestamp header, signature header] (default: the generic channel)
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
  local target = args[3] or "/webhooks/generic"
  local ts_header = args[4] or "X-SmartBot-Timestamp"
  local sig_header = args[5] or "X-SmartBot-Signature"
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == (tid - 1) then
      local ts, sig, body = line:match("^([^|]+)|([^|]+)|(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", target,
        {["Content-Type"] = "application/json", [ts_header] = ts, [sig_header] = sig}, body)
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
