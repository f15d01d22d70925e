{{/* Names and labels. */}}
{{- define "tempograph.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tempograph.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tempograph.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tempograph.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- include "tempograph.fullname" . -}}
{{- else -}}
{{- fail "secrets: name an existingSecret (DATABASE_URL, TEMPOGRAPH_ENCRYPTION_KEYS, ...) or set secrets.create with secrets.values" -}}
{{- end -}}
{{- end -}}

{{/* The environment every Tempograph process gets. */}}
{{- define "tempograph.env" -}}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: TEMPOGRAPH_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
- name: TEMPOGRAPH_DATA_DIR
  value: /tmp/tempograph
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "tempograph.secretName" . }}, key: {{ .Values.secrets.databaseUrlKey }}}
- name: TEMPOGRAPH_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef: {name: {{ include "tempograph.secretName" . }}, key: {{ .Values.secrets.encryptionKeysKey }}}
{{- if .Values.temporal.apiKey }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "tempograph.secretName" . }}, key: {{ .Values.secrets.temporalApiKeyKey }}}
{{- end }}
{{- if .Values.temporal.mtls.secretName }}
- name: TEMPORAL_TLS_CERT
  value: /etc/tempograph/temporal-tls/tls.crt
- name: TEMPORAL_TLS_KEY
  value: /etc/tempograph/temporal-tls/tls.key
- name: TEMPORAL_TLS_CA
  value: /etc/tempograph/temporal-tls/ca.crt
{{- end }}
{{- if .Values.temporal.insecure }}
- name: TEMPOGRAPH_TEMPORAL_INSECURE
  value: "true"
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "tempograph.volumes" -}}
- name: config
  configMap:
    name: {{ include "tempograph.fullname" . }}
- name: tmp
  emptyDir: {}
{{- if .Values.temporal.mtls.secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.mtls.secretName }}
{{- end }}
{{- end -}}

{{- define "tempograph.mounts" -}}
- name: config
  mountPath: {{ .Values.appDir }}/langgraph.json
  subPath: langgraph.json
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.mtls.secretName }}
- name: temporal-tls
  mountPath: /etc/tempograph/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Every task queue the workers serve: the main one and the node queues. */}}
{{- define "tempograph.queues" -}}
{{- $queues := list .Values.temporal.taskQueue -}}
{{- range .Values.worker.nodeQueues }}{{ $queues = append $queues . }}{{ end -}}
{{- join "," (uniq $queues) -}}
{{- end -}}
