{{- define "airlock.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "airlock.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "airlock.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "airlock.tlsSecret" -}}
{{- if .Values.tls.certManager.enabled -}}{{ include "airlock.fullname" . }}-tls{{- else -}}{{ required "tls.existingSecret (or tls.certManager.enabled)" .Values.tls.existingSecret }}{{- end -}}
{{- end -}}

{{/* What both webhook configurations share: who is judged, how, and where the webhook is. */}}
{{- define "airlock.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ .Values.webhook.failurePolicy }}
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range (append .Values.webhook.exemptNamespaces .Release.Namespace) | uniq }}
        - {{ . | quote }}
        {{- end }}
    - key: {{ .Values.webhook.optOutLabel }}
      operator: NotIn
      values: ["disabled"]
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["pods", "replicationcontrollers"]
    scope: Namespaced
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["UPDATE"]
    resources: ["pods/ephemeralcontainers"]
    scope: Namespaced
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
    scope: Namespaced
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["jobs", "cronjobs"]
    scope: Namespaced
{{- end -}}

{{- define "airlock.clientConfig" -}}
clientConfig:
  service:
    name: {{ include "airlock.fullname" . }}
    namespace: {{ .Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if and (not .Values.tls.certManager.enabled) .Values.tls.caBundle }}
  caBundle: {{ .Values.tls.caBundle }}
  {{- end }}
{{- end -}}

{{- define "airlock.caInjection" -}}
{{- if .Values.tls.certManager.enabled -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "airlock.fullname" . }}
{{- end -}}
{{- end -}}
