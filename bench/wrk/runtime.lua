-- wrk script for GET /api/v1/runtime/env: the runtime token from MIOSA_TOKEN, and an instance
-- name per request (X-Miosa-Instance, one of 1,000), so each fetch upserts its instance's row.
-- With MIOSA_ETAG (the ETag the server answered before) in If-None-Match: every answer a 304.
local token = os.getenv("MIOSA_TOKEN")
local etag = os.getenv("MIOSA_ETAG") or ""
local n = 0

function request()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["X-Miosa-Instance"] = "bench-" .. tostring(n % 1000)
  if etag ~= "" then
    headers["If-None-Match"] = etag
  end
  return wrk.format("GET", "/api/v1/runtime/env", headers)
end
