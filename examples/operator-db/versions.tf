terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = "1.19.0"
    }
  }

  # Partial configuration, filled by init as for examples/marketplace:
  #   tofu init -backend-config=../../.lab/tofu.s3.tfbackend -backend-config=key=operator-db/terraform.tfstate
  backend "s3" {}
}

# Reads the cluster from KUBECONFIG (source .lab/env).
provider "kubectl" {}
