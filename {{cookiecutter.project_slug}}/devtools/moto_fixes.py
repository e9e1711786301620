"""moto made to do what AWS does where the deploy tool relies on it and moto does otherwise.

`install()` patches moto in this process: the in-process emulator (emulated_aws.py) and
`make deploy-local`'s moto_server (moto_server.py) both call it.
"""

from __future__ import annotations


def install() -> None:
    """Idempotent: patches once per process."""
    from moto.ec2.models.subnets import SubnetBackend

    if getattr(SubnetBackend.delete_subnet, "drops_acl_associations", False):
        return
    delete_subnet = SubnetBackend.delete_subnet

    def delete_subnet_and_its_acl_association(self, subnet_id: str):
        # AWS: a subnet's network ACL association goes with the subnet, so the ACL can be
        # deleted next (EC2 API Reference, DeleteNetworkAcl: refused only while "associated
        # with any subnets"). moto keeps the association and refuses the ACL for good.
        subnet = delete_subnet(self, subnet_id)
        for acl in self.network_acls.values():
            for association_id, association in list(acl._associations.items()):
                if association.subnet_id == subnet_id:
                    del acl._associations[association_id]
        return subnet

    delete_subnet_and_its_acl_association.drops_acl_associations = True
    SubnetBackend.delete_subnet = delete_subnet_and_its_acl_association
