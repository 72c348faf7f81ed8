{{- /*
THE PERMISSIONS OF THE OPERATOR: the one place that lists them.
Every (Cluster)Role of this chart takes its rules from here, and
tests/chart/test_chart.py compares the rendered rules with the list the
controller needs. Change both together, and only for an API call the
controller really makes.

  siptrunk.dev             siptrunks                    get list watch patch
                           siptrunks/status             get patch
                           siptrunks/finalizers         update
                           sipproviders                 get list watch
                           clustersipproviders          get list watch
                           sipproviders/status          get patch
                           clustersipproviders/status   get patch
  "" (core)                secrets                      get list watch   (read-only)
  events.k8s.io            events                       create patch
  coordination.k8s.io      leases                       get create update (leader election;
                                                        Role in the release namespace)
*/ -}}

{{- /* Rules on namespaced objects: ClusterRole in cluster mode, Role in the watched namespace otherwise. */ -}}
{{- define "siptrunk-operator.rules.namespaced" -}}
- apiGroups: ["siptrunk.dev"]
  resources: ["siptrunks"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["siptrunks/status"]
  verbs: ["get", "patch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["siptrunks/finalizers"]
  verbs: ["update"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipproviders"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["sipproviders/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- /* Rules on cluster-scoped objects: always in a ClusterRole. */ -}}
{{- define "siptrunk-operator.rules.cluster" -}}
- apiGroups: ["siptrunk.dev"]
  resources: ["clustersipproviders"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["siptrunk.dev"]
  resources: ["clustersipproviders/status"]
  verbs: ["get", "patch"]
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
