-- wrk script for a conditional GET /api/v1/runtime/env: as runtime.lua, with the ETag the server
-- answered before (MIOSA_ETAG) in If-None-Match, so every fetch is a 304 that decrypts nothing.
local token = os.getenv("MIOSA_TOKEN")
local etag = os.getenv("MIOSA_ETAG")
local n = 0

function request()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["X-Miosa-Instance"] = "bench-" .. tostring(n % 1000)
  headers["If-None-Match"] = etag
  return wrk.format("GET", "/api/v1/runtime/env", headers)
end
