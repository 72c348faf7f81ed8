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
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/*
The image reference: [global.imageRegistry/]repository, then :tag (default
appVersion) unless only a digest is given, then @digest.
*/}}
{{- define "siptrunk-operator.image" -}}
{{- $repo := .Values.image.repository }}
{{- with (.Values.global).imageRegistry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- if .Values.image.tag }}
{{- printf "%s:%s@%s" $repo .Values.image.tag .Values.image.digest }}
{{- else }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- end }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* imagePullSecrets and global.imagePullSecrets, without duplicates. */}}
{{- define "siptrunk-operator.imagePullSecrets" -}}
{{- $all := concat (.Values.imagePullSecrets | default list) ((.Values.global).imagePullSecrets | default list) | uniq }}
{{- with $all }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Label matchers of the operator's series in alert expressions: by default the
job the ServiceMonitor creates (the metrics Service's name) in the release
namespace; prometheusRule.selector replaces them.
*/}}
{{- define "siptrunk-operator.alertSelector" -}}
{{- if .Values.prometheusRule.selector }}
{{- .Values.prometheusRule.selector }}
{{- else -}}
job="{{ include "siptrunk-operator.fullname" . }}-metrics",namespace="{{ .Release.Namespace }}"
{{- end }}
{{- end }}
