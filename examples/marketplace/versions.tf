terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "1.13.4"
    }
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = "1.19.0"
    }
  }

  # Partial configuration: the settings come from init, because OpenTofu 1.10
  # and Terraform 1.5.7 spell the S3 endpoint and path-style options
  # differently (see README.md). The lab writes both variants:
  #   tofu init      -backend-config=../../.lab/tofu.s3.tfbackend      -backend-config=key=marketplace/terraform.tfstate
  #   terraform init -backend-config=../../.lab/terraform.s3.tfbackend -backend-config=key=marketplace/terraform.tfstate
  backend "s3" {}
}

# Both providers read the cluster from KUBECONFIG (source .lab/env).
provider "kubernetes" {}

provider "kubectl" {}
