-- wrk script: POSTs the JSON body in the file given after `--`, with the headers given
-- after it as "name: value".
function init(args)
  local file = assert(io.open(args[1], "r"))
  body = file:read("*a")
  file:close()
  headers = { ["content-type"] = "application/json" }
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
end

function request()
  return wrk.format("POST", nil, headers, body)
end
