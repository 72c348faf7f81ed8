-- Argo CD health check for siptrunk.dev/SipProvider and siptrunk.dev/ClusterSipProvider.
-- argocd-cm keys: resource.customizations.health.siptrunk.dev_SipProvider
--                 resource.customizations.health.siptrunk.dev_ClusterSipProvider
-- Input: obj (the live object). Output: hs = {status = ..., message = ...}.
-- Plain Lua 5.1 (Argo CD runs gopher-lua): no goto, no integer division.
local hs = {}

-- Reasons of Ready=False that only a change by the user fixes.
local permanent = {
  InvalidSpec = true,
  Unauthorized = true,
  SecretNotFound = true,
  ProviderConfigInvalid = true,
}

local function condition(status, ctype)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.reason or fallback
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local metadata = obj.metadata or {}
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report status"
  return hs
end

local generation = metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status, "Ready")
local stalled = condition(status, "Stalled")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

-- No SipTrunk uses the provider yet, so no list call has checked its token: nothing to wait for.
if ready ~= nil and ready.status == "Unknown" and ready.reason == "NotChecked" then
  hs.status = "Healthy"
  hs.message = describe(ready, "NotChecked")
  return hs
end

if ready ~= nil and ready.status == "False" and permanent[ready.reason or ""] then
  hs.status = "Degraded"
  hs.message = describe(ready, "not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "waiting for the Ready condition")
return hs
