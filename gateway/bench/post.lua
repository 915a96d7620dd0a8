-- wrk script: POSTs the JSON body in the file given after `--`.
function init(args)
  local file = assert(io.open(args[1], "r"))
  body = file:read("*a")
  file:close()
end

function request()
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, body)
end
