-- wrk: each request is a new visitor's first "Add": a cart holding one unit of a random
-- product of the store. Product ids come after "--", comma-separated.
local ids = {}

function init(args)
  for id in string.gmatch(args[1], "%d+") do ids[#ids + 1] = id end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "product_id=" .. id .. "&quantity=1")
end
