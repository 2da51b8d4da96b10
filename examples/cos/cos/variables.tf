# The TLS inputs of observability-stack's terraform/cos-lite (variables.tf), with its names, types and defaults.

variable "model" {
  description = "The COS model: uuid of an existing model."
  type = object({
    uuid = string
  })
}

variable "internal_tls" {
  description = "Whether COS applications talk TLS to each other, with certificates from a local tls-authority."
  type        = bool
  default     = true
}

variable "external_certificates_offer_url" {
  description = "Offer URL (e.g. admin/ca.certificates) of a CA providing tls-certificates, for Traefik's server certificate."
  type        = string
  default     = null

  validation {
    condition = (
      (var.external_certificates_offer_url == null && var.external_ca_cert_offer_url == null) ||
      (var.external_certificates_offer_url != null && var.external_ca_cert_offer_url != null)
    )
    error_message = "external_certificates_offer_url and external_ca_cert_offer_url must be supplied together (either both set or both null)."
  }
}

variable "external_ca_cert_offer_url" {
  description = "Offer URL (e.g. admin/ca.send-ca-cert) of the same CA's certificate_transfer, so COS applications trust Traefik."
  type        = string
  default     = null
}
