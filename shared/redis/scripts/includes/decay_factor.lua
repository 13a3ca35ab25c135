-- exp(-dt/tau) as (1 + x/1024)^-1024: only + * /, so V8 and Redis's Lua round it identically
-- (shared/selector/reservation.ts decayFactor is the same function; keep the two in step).
local function decay_factor(dt, tau)
  if tau <= 0 then return 0 end
  local x = dt / tau
  if x <= 0 then return 1 end
  local y = 1 + x / 1024
  for _ = 1, 10 do y = y * y end
  return 1 / y
end
