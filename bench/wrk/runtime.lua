-- wrk script for GET /api/v1/runtime/env: the runtime token from MIOSA_TOKEN, and an instance
-- name per request (X-Miosa-Instance, one of 1,000), so each fetch upserts its instance's row.
local token = os.getenv("MIOSA_TOKEN")
local n = 0

function request()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["X-Miosa-Instance"] = "bench-" .. tostring(n % 1000)
  return wrk.format("GET", "/api/v1/runtime/env", headers)
end
