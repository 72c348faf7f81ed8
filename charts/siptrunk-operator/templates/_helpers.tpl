{{/* Chart name, truncated to 63 characters. */}}
{{- define "siptrunk-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release already contains the chart name. */}}
{{- define "siptrunk-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "siptrunk-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "siptrunk-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "siptrunk-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "siptrunk-operator.labels" -}}
helm.sh/chart: {{ include "siptrunk-operator.chart" . }}
{{ include "siptrunk-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: siptrunk-operator
{{- end }}

{{- define "siptrunk-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "siptrunk-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "siptrunk-operator.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (printf "%s-leader" (include "siptrunk-operator.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "siptrunk-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding the ownership-marker key (in the release namespace). */}}
{{- define "siptrunk-operator.markerKeySecret" -}}
{{- .Values.markerKey.existingSecret | default (printf "%s-marker-key" (include "siptrunk-operator.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}
