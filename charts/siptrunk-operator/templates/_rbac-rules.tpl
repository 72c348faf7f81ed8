{{- /*
THE PERMISSIONS OF THE OPERATOR: the one place that lists them.
Every (Cluster)Role of this chart takes its rules from here. tests/rbac.rs
records the Kubernetes API calls the real controller makes (in both watch
modes) into tests/chart/controller-api-calls.json, and
tests/chart/test_rbac_calls.py checks both directions against the rendered
roles: every call is granted, every grant is used. Change both together.

  siptrunk.dev             siptrunks                    list watch patch
                                                        (patch: the finalizer, by JSON patch)
                           siptrunks/status             patch   (server-side apply)
                           sipproviders                 list watch patch
                                                        (patch: the in-use finalizer)
                           sipproviders/status          patch   (server-side apply)
                           sipdispatchrules             list watch patch
                                                        (patch: the finalizer, by JSON patch)
                           sipdispatchrules/status      patch   (server-side apply)
                           clustersipproviders          list watch
                           clustersipproviders/status   patch   (cluster mode only: a namespaced
                                                        instance sees only some of its trunks)
  "" (core)                secrets                      list watch   (metadata only: names and
                                                        resourceVersions, never data; RBAC
                                                        cannot tell a metadata-only list from
                                                        a full one, nor filter by label)
                           secrets                      get          (only Secrets a SipTrunk or
                                                        provider references, when they change)
                           secrets                      patch        (the in-use finalizer on token
                                                        Secrets while SipTrunks use them)
  "" (core)                secrets (release namespace)  get on the one marker-key Secret; create
                                                        when the chart does not supply it
  events.k8s.io            events                       create patch (patch: event series)
  coordination.k8s.io      leases                       create; get update on the one Lease
                                                        (leader election; Role in the release namespace)

Not granted, because no call needs them: get on anything but the Lease and
referenced Secrets (every other read comes from the watch caches), update/delete
on SipTrunks, and
siptrunks/finalizers (nor sipdispatchrules/finalizers), which the OwnerReferencesPermissionEnforcement admission
plugin checks only when an object names a SipTrunk as an owner with
blockOwnerDeletion; the operator creates no such objects (Events point at
their trunk through `regarding`, not ownerReferences).
*/ -}}

{{- /* Rules on namespaced objects: ClusterRole in cluster mode, Role in the watched namespace otherwise. */ -}}
{{- define "siptrunk-operator.rules.namespaced" -}}
- apiGroups: ["siptrunk.dev"]
  resources: ["siptrunks"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["siptrunks/status"]
  verbs: ["patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipdispatchrules"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipdispatchrules/status"]
  verbs: ["patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipproviders"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipproviders/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch", "patch"]
{{- /* Referenced Secrets only (issue 12): the watch above carries metadata, a reconcile GETs its Secret. */}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- /* Rules on cluster-scoped objects: always in a ClusterRole. */ -}}
{{- define "siptrunk-operator.rules.cluster" -}}
- apiGroups: ["siptrunk.dev"]
  resources: ["clustersipproviders"]
  verbs: ["list", "watch"]
{{- if not .Values.watchNamespace }}
- apiGroups: ["siptrunk.dev"]
  resources: ["clustersipproviders/status"]
  verbs: ["patch"]
{{- end }}
{{- end }}

{{- /* The ownership-marker key: a Role in the release namespace. create cannot be limited by name. */ -}}
{{- define "siptrunk-operator.rules.markerKey" -}}
{{- if not (or .Values.markerKey.existingSecret .Values.markerKey.value) }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
{{- end }}
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: [{{ include "siptrunk-operator.markerKeySecret" . | quote }}]
  verbs: ["get"]
{{- end }}

{{- /* Leader election: a Role in the release namespace. create cannot be limited by name. */ -}}
{{- define "siptrunk-operator.rules.leaderElection" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "siptrunk-operator.leaseName" . | quote }}]
  verbs: ["get", "update"]
{{- end }}
