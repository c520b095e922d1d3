-- wrk: a mix of requests, each picked at random by its weight. After "--": a file of
-- tab-separated lines "weight, method, path, headers (name: value, separated by " | "), body".
-- In a path or body every "{id}" becomes a random product id of the second argument's list.
local mix, total, ids = {}, 0, {}

function init(args)
  for id in string.gmatch(args[2], "%d+") do ids[#ids + 1] = id end
  for line in io.lines(args[1]) do
    local weight, method, path, headers, body = line:match("^(%d+)\t(%u+)\t([^\t]+)\t([^\t]*)\t?(.*)$")
    if weight then
      local parsed = {}
      for name, value in string.gmatch(headers, "([^:|]+):%s*([^|]+)") do
        parsed[name:match("^%s*(.-)%s*$")] = value:match("^(.-)%s*$")
      end
      if body ~= "" then parsed["Content-Type"] = "application/x-www-form-urlencoded" end
      total = total + tonumber(weight)
      mix[#mix + 1] = {upto = total, method = method, path = path, headers = parsed, body = body}
    end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  local pick, id = math.random(total), ids[math.random(#ids)]
  for _, entry in ipairs(mix) do
    if pick <= entry.upto then
      local body = entry.body ~= "" and string.gsub(entry.body, "{id}", id) or nil
      return wrk.format(entry.method, (string.gsub(entry.path, "{id}", id)), entry.headers, body)
    end
  end
end
