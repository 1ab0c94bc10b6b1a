-- Argo CD health check (resource.customizations.health.aias.dev_Schedule).
-- AIAS sets the Ready condition on every kind once reconciled; status.observedGeneration
-- lags metadata.generation until the controller has seen the latest spec.
local hs = {}
local function readyCondition(o)
  if o.status == nil or o.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(o.status.conditions) do
    if c.type == "Ready" then
      return c
    end
  end
  return nil
end
local function stale(o)
  local gen = o.metadata and o.metadata.generation
  local seen = o.status and o.status.observedGeneration
  return gen ~= nil and (seen == nil or seen < gen)
end
local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

local ready = readyCondition(obj)
if ready == nil or stale(obj) then
  hs.status = "Progressing"
  hs.message = "Waiting for the AIAS controller to reconcile the Schedule"
  return hs
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = (ready.reason or "NotReady") .. ": " .. describe(ready)
  return hs
end
if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = describe(ready)
  return hs
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend): " .. describe(ready)
  return hs
end
hs.status = "Healthy"
hs.message = describe(ready)
return hs
