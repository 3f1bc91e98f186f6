{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "modelship.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's objects: the release name if it already contains the chart name,
otherwise <release>-<chart>; truncated to 63 characters.
*/}}
{{- define "modelship.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "modelship.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the operator pods (never the runtime's: those are name=modelship-runtime). */}}
{{- define "modelship.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelship.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelship.labels" -}}
{{ include "modelship.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "modelship.chart" . }}
{{- end -}}

{{- define "modelship.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelship.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* <repository>:<tag>[@<digest>] from an image block; the tag defaults to the appVersion. */}}
{{- define "modelship.imageRef" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- $ref := printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- if $image.digest -}}{{- $ref = printf "%s@%s" $ref $image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* "true" when leader election is on: asked for, or forced by more than one replica. */}}
{{- define "modelship.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/* A duration such as 500ms, 15s, 10m or 1h in milliseconds (the operator's syntax). */}}
{{- define "modelship.durationMs" -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 -}}
{{- $unit := regexFind "(ms|s|m|h)$" . -}}
{{- mulf $n (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit) -}}
{{- end -}}

{{/* Checks across values that a JSON schema cannot express; fails the install with a message. */}}
{{- define "modelship.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- $lease := include "modelship.durationMs" $le.leaseDuration | float64 -}}
{{- $renew := include "modelship.durationMs" $le.renewDeadline | float64 -}}
{{- $retry := include "modelship.durationMs" $le.retryPeriod | float64 -}}
{{- if not (and (gt $lease $renew) (gt $renew $retry)) -}}
{{- fail (printf "leaderElection: leaseDuration (%s) must be longer than renewDeadline (%s), which must be longer than retryPeriod (%s)" $le.leaseDuration $le.renewDeadline $le.retryPeriod) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes that Service" -}}
{{- end -}}
{{- end -}}
