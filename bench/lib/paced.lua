-- wrk script for the *-paced scenarios: every connection waits a random time before each
-- request (exponentially distributed, mean given as the script argument in ms), so that
-- the connections together send a steady Poisson-like stream at a fixed request rate,
-- the same for every server, instead of as many requests as the server can answer.
-- The latency wrk reports then compares servers at equal load.
local mean_ms = 100

function init(args)
  mean_ms = tonumber(args[1]) or mean_ms
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function delay()
  -- wrk takes whole milliseconds: rounded, not truncated, so that the mean stays right
  return math.floor(-math.log(1 - math.random()) * mean_ms + 0.5)
end
