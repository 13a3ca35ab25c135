-- The node's write log (keys.ts node:<id>:writes): a node numbers the scripts it runs for itself
-- (write_no, added by registry.ts NodeWriteLog) and Redis keeps the highest number it executed, so
-- report_node can tell when Redis lost writes it had acknowledged. Without a number (a caller that
-- keeps no log) nothing is recorded. Needs the keys include.
local function log_node_write(node_id, write_no, ttl_ms)
  if type(write_no) ~= 'number' then return end
  local k = k_node_writes(node_id)
  if (tonumber(redis.call('HGET', k, 'seq')) or 0) < write_no then
    redis.call('HSET', k, 'seq', string.format('%d', write_no))
  end
  redis.call('PEXPIRE', k, ttl_ms)
end
