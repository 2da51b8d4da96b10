# TLS in COS (SPEC §1), as the seed deployment writes it (canonical/observability-stack
# tests/integration/cos/tls_full/track-dev.tf): an external CA in its own model, whose offers feed the COS module's
# external_certificates_offer_url and external_ca_cert_offer_url. The CA is tls-authority (module "ssc" keeps the
# seed's name, so its lines read as they do there); module "cos" is ./cos, the TLS part of observability-stack's
# terraform/cos-lite with the same inputs, so swapping its source for the upstream module keeps this file working.

terraform {
  required_version = ">= 1.5"
  required_providers {
    juju = {
      source  = "juju/juju"
      version = ">= 1.0"
    }
  }
}

variable "ca_model" {
  description = "Name of the model of the external CA."
  type        = string
  default     = "ca"
}

variable "cos_model" {
  description = "Name of the COS model."
  type        = string
  default     = "cos"
}

variable "internal_tls" {
  description = "TLS between the COS applications, signed by a local CA in the COS model."
  type        = bool
  default     = true
}

variable "external_tls" {
  description = "TLS at Traefik, with its certificate from the external CA, which COS applications then trust."
  type        = bool
  default     = true
}

resource "juju_model" "ca" {
  name = var.ca_model
}

resource "juju_model" "cos" {
  name = var.cos_model
}

module "ssc" {
  source     = "../../terraform"
  model_uuid = juju_model.ca.uuid
  config = {
    ca-common-name = "COS external CA"
  }
}

module "cos" {
  source     = "./cos"
  depends_on = [module.ssc] # The CA model's offers exist before COS consumes them.

  model                           = { uuid = juju_model.cos.uuid }
  internal_tls                    = var.internal_tls
  external_certificates_offer_url = var.external_tls ? module.ssc.offers.certificates.url : null
  external_ca_cert_offer_url      = var.external_tls ? module.ssc.offers.send-ca-cert.url : null
}

output "ca_offers" {
  description = "The offer URLs of the external CA."
  value = {
    certificates = module.ssc.offers.certificates.url
    send-ca-cert = module.ssc.offers.send-ca-cert.url
  }
}

output "cos_applications" {
  description = "The COS applications that take part in TLS."
  value       = module.cos.applications
}
