-- Argo CD health check (resource.customizations.health.aias.dev_Plan).
-- A Plan is limits only: no AIAS controller writes its status today, so a Plan without a
-- Ready condition is Healthy as soon as it exists. Should a Ready condition appear, it is
-- honored like on the other kinds.
local hs = {}
local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
if ready == nil then
  hs.status = "Healthy"
  hs.message = "Plan has no status to wait for"
  return hs
end
local message = ready.message
if message == nil or message == "" then
  message = ready.reason or ""
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = (ready.reason or "NotReady") .. ": " .. message
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message
else
  hs.status = "Progressing"
  hs.message = message
end
return hs
