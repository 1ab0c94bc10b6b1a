-- Argo CD health check (resource.customizations.health.aias.dev_Run).
-- A Run is one execution; status.phase is Pending, Queued, Running, Waiting, Succeeded,
-- Failed, Canceled or Rejected (api/v1alpha1 RunPhase) and status.message explains it.
-- Succeeded is Healthy; Pending, Queued and Running are Progressing; Waiting (an approval
-- gate waits for a person's decision and nothing else runs) is Suspended, as Argo CD shows
-- other resources paused until someone acts; Failed, Rejected (the plan's quota refused it)
-- and Canceled (spec.cancel, or superseded by a newer Run of its concurrency key) are
-- Degraded: the Run ended without doing its work.
local hs = {}
local phase = ""
local message = ""
if obj.status ~= nil then
  phase = obj.status.phase or ""
  message = obj.status.message or ""
  if message == "" and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == "Ready" and c.message ~= nil then
        message = c.message
      end
    end
  end
end
local function withMessage(text)
  if message ~= "" then
    return text .. ": " .. message
  end
  return text
end
local steps = ""
if obj.status ~= nil and obj.status.stepsSummary ~= nil and obj.status.stepsSummary ~= "" then
  steps = " (steps " .. obj.status.stepsSummary .. ")"
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = withMessage("Run succeeded" .. steps)
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = withMessage("Run failed" .. steps)
elseif phase == "Rejected" then
  hs.status = "Degraded"
  hs.message = withMessage("Run rejected")
elseif phase == "Canceled" then
  hs.status = "Degraded"
  hs.message = withMessage("Run canceled" .. steps)
elseif phase == "Running" then
  hs.status = "Progressing"
  hs.message = withMessage("Run running" .. steps)
elseif phase == "Waiting" then
  hs.status = "Suspended"
  hs.message = withMessage("Run waiting for a decision" .. steps)
elseif phase == "Queued" then
  hs.status = "Progressing"
  hs.message = withMessage("Run queued for a concurrency slot")
elseif phase == "Pending" then
  hs.status = "Progressing"
  hs.message = withMessage("Run pending")
else
  hs.status = "Progressing"
  hs.message = "Waiting for the AIAS Run controller"
end
return hs
