"""KubeVirt's virt-api subresources, `PUT /apis/subresources.kubevirt.io/v1/namespaces/NS/virtualmachines/NAME/ACTION`,
as `virtctl start|stop|restart` use them. Like virt-api they change the VirtualMachine's run state (the
simulated virt-controller then creates or removes the VMI) and refuse what makes no sense with 409:
starting a running VM, stopping or restarting one that is not running. A restart deletes the VMI, so a
new one (new uid) starts in its place.
"""
from .store import StatusError

GROUP, VERSION = "subresources.kubevirt.io", "v1"
ACTIONS = ("start", "stop", "restart")


def run_strategy(spec):
    return spec.get("runStrategy") or ("Always" if spec.get("running") else "Halted")


def act(state, namespace, name, action):
    vms = state.registry.find("kubevirt.io", "v1", "virtualmachines")
    vmis = state.registry.find("kubevirt.io", "v1", "virtualmachineinstances")
    vm = state.objects.get(vms.key, {}).get((namespace, name)) if vms else None
    if vm is None:
        raise StatusError(404, "NotFound", f'virtualmachines.kubevirt.io "{name}" not found',
                          {"name": name, "group": "kubevirt.io", "kind": "virtualmachines"})
    spec = vm.setdefault("spec", {})
    strategy = run_strategy(spec)
    vmi = state.objects.get(vmis.key, {}).get((namespace, name))
    if action == "start":
        if strategy in ("Always", "RerunOnFailure") and vmi is not None:
            raise StatusError(409, "Conflict", "Operation cannot be fulfilled on virtualmachine.kubevirt.io "
                              f'"{name}": VM is already running')
        set_running(state, vms, vm, True)
    elif action == "stop":
        if strategy == "Halted" and vmi is None:
            raise StatusError(409, "Conflict", "Operation cannot be fulfilled on virtualmachine.kubevirt.io "
                              f'"{name}": VM is not running')
        set_running(state, vms, vm, False)
    else:  # restart
        if vmi is None:
            raise StatusError(409, "Conflict", "Operation cannot be fulfilled on virtualmachine.kubevirt.io "
                              f'"{name}": VM is not running')
        state.delete(vmis, namespace, name)
    return 202, b"", "application/json"


def set_running(state, resource, vm, running):
    """`running: true|false`, or the matching runStrategy where the VM uses one (as virt-api does)."""
    spec = vm["spec"]
    if "runStrategy" in spec:
        spec["runStrategy"] = "Always" if running else "Halted"
    else:
        spec["running"] = running
    vm["metadata"]["generation"] = vm["metadata"].get("generation", 1) + 1
    vm["metadata"]["resourceVersion"] = state.next_revision()
