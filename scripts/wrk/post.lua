-- wrk: each request POSTs a form about a random product of the store, as the store page
-- does. After "--": the product ids (comma-separated) and the form body, in which
-- every "{id}" becomes the product's id.
local ids, body = {}, ""

function init(args)
  for id in string.gmatch(args[1], "%d+") do ids[#ids + 1] = id end
  body = args[2]
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local form = string.gsub(body, "{id}", ids[math.random(#ids)])
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
end
