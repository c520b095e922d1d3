-- wrk: each request places an order of one unit of a random product of the store, as the
-- store page's form does without JavaScript (no cart). Product ids come after "--", comma-separated.
local ids = {}

function init(args)
  for id in string.gmatch(args[1], "%d+") do ids[#ids + 1] = id end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "name=Sale+Day&phone=9876543210&address=1+Bench+Road%2C+Pune&qty-" .. id .. "=1")
end
