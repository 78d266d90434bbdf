"""What every view case of tests/datasets/view_cases.py gave before the views learnt to draw on the
device (recorded with the views of commit 6cb4f69, generator seed 7, one thread): per case the
digest of the generator's state after the view (which numbers were drawn, exactly) and per output
tensor (sum, position-weighted sum, sum of |values|, shape) for floats or (digest, shape) for
integers. tests/datasets/test_view_devices.py checks that a CPU generator still gives these."""

RECORDED = {
    "image/simclr_gray": {
        "generator": "9606b8af3c22ffaf",
        "x": [6321.9701088778675, -23.455659337590376, 6321.9701088778675, (16, 1, 28, 28)],
    },
    "image/simclr_rgb": {
        "generator": "aad352216bdad003",
        "x": [18650.628396432847, -538.7977324932903, 18650.628396432847, (12, 3, 32, 32)],
    },
    "image/digits": {
        "generator": "aad352216bdad003",
        "x": [6081.591017998755, -160.06778843961828, 6081.591017998755, (16, 1, 28, 28)],
    },
    "image/byol_1": {
        "generator": "10c5716c2deed897",
        "x": [18708.293267844383, -522.1584896964001, 18708.293267844383, (12, 3, 32, 32)],
    },
    "image/byol_2": {
        "generator": "cdc9ecffbab8f4f1",
        "x": [16278.55553923943, 838.2740648242593, 16278.55553923943, (12, 3, 32, 32)],
    },
    "image/byol_2_gray": {
        "generator": "9606b8af3c22ffaf",
        "x": [5782.557674642652, 153.0488297801579, 5782.557674642652, (16, 1, 28, 28)],
    },
    "image/dino_local": {
        "generator": "10c5716c2deed897",
        "x": [3579.386937719304, -101.01900818773586, 3579.386937719304, (12, 3, 14, 14)],
    },
    "image/crop": {
        "generator": "e08106ea629b562f",
        "x": [6263.355574582703, 4.217430417400676, 6263.355574582703, (16, 1, 28, 28)],
    },
    "image/weak": {
        "generator": "6d94956336bade65",
        "x": [18558.490120470524, -1.3669120962804726, 18558.490120470524, (12, 3, 32, 32)],
    },
    "image/strong": {
        "generator": "556deac4f4730f95",
        "x": [17574.368779628654, -277.05025406445844, 17574.368779628654, (12, 3, 32, 32)],
    },
    "image/strong_noflip": {
        "generator": "70bc358fcd4fbfaf",
        "x": [6242.765239123255, 97.76122573373893, 6242.765239123255, (16, 1, 28, 28)],
    },
    "volume/default": {
        "generator": "4f1743038d32a456",
        "x": [15553.170763604343, -834.5299454297299, 15553.170763604343, (4, 1, 20, 20, 20)],
    },
    "volume/rotation": {
        "generator": "991b09ad9e899af8",
        "x": [16069.75468819961, 36.509796962734754, 16069.75468819961, (4, 1, 20, 20, 20)],
    },
    "volume/byol_2": {
        "generator": "7d747dd1d6f970ad",
        "x": [12775.220754589885, 949.7892581346548, 12775.220754589885, (4, 1, 20, 20, 20)],
    },
    "volume/dino_local": {
        "generator": "f4729ebd3a2baf04",
        "x": [7969.161012090743, -433.97758738769465, 7969.161012090743, (4, 1, 16, 16, 16)],
    },
    "volume/weak": {
        "generator": "09c7baa332d28a83",
        "x": [16051.045204907728, 20.41783113690019, 16051.045204907728, (4, 1, 20, 20, 20)],
    },
    "volume/strong": {
        "generator": "386e6dc1d289eab9",
        "x": [13174.79051384787, -308.78031867584247, 13174.79051384787, (4, 1, 20, 20, 20)],
    },
    "signal/waveform": {
        "generator": "17868b6e4b8fbd23",
        "x": [141.5261887568122, -44.83649857203632, 4610.13252956661, (8, 1, 800)],
    },
    "signal/spectrogram": {
        "generator": "6a717aa8e302f674",
        "x": [-3310.0771873272024, -1143.125533042982, 20110.115532411262, (8, 1, 32, 100)],
    },
    "signal/ecg": {
        "generator": "205c0b95b8d5086e",
        "x": [631.352891101269, -133.816412752346, 5558.372827545041, (8, 2, 500)],
    },
    "signal/weak": {
        "generator": "6f68beddc09816be",
        "x": [64.30127175685266, -2.7233872360430933, 6060.975716143792, (8, 2, 500)],
    },
    "signal/strong": {
        "generator": "c16b80269ed56632",
        "x": [584.3818801406305, -160.45085347154617, 4118.374650944257, (8, 2, 500)],
    },
    "signal/crop": {
        "generator": "d2ec846d4e0489f5",
        "x": [-23.922996120351854, 21.619859062350006, 5051.134130469175, (8, 2, 500)],
    },
    "signal/dino_local": {
        "generator": "c16b80269ed56632",
        "x": [305.60364161862526, 0.022561465810898795, 2132.1562435016967, (8, 2, 214)],
    },
    "signal/spectrogram_local": {
        "generator": "e096b0030b8d828e",
        "x": [-529.3363121598231, -427.4617215093918, 6443.25288733661, (8, 1, 32, 43)],
    },
    "signal/spectrogram_weak": {
        "generator": "6f68beddc09816be",
        "x": [-4274.302425030459, -154.02422694485438, 23770.35906748571, (8, 1, 32, 100)],
    },
    "graph/graphcl": {
        "generator": "a348ed13df92a811",
        "batch": ["03e90fbc26ed8f91", (38,)],
        "edge_index": ["08bf4960941f621a", (2, 64)],
        "num_graphs": 6,
        "x": [84.84513396024704, -2.4905041982887903, 84.84513396024704, (38, 5)],
    },
    "graph/graphcl_ssl": {
        "generator": "6cecbc781bdf8df6",
        "batch": ["905e027abfb7f696", (35,)],
        "edge_index": ["5b9c5c067d82b64b", (2, 58)],
        "num_graphs": 6,
        "x": [92.20760390162468, 1.5348694132662373, 92.20760390162468, (35, 5)],
    },
    "graph/graphcl_weak": {
        "generator": "a348ed13df92a811",
        "batch": ["612339cb91c2ed5b", (39,)],
        "edge_index": ["c7eea34f7350bef8", (2, 61)],
        "num_graphs": 6,
        "x": [102.46937429904938, 1.1105908653170797, 102.46937429904938, (39, 5)],
    },
    "graph/grace": {
        "generator": "5e94f762c6b90fe8",
        "edge_index": ["60a7e1b13684013a", (2, 138)],
        "nodes": ["f5c4cb24f4c9b43e", (20,)],
        "x": [174.89137279987335, 2.6763643612440577, 174.89137279987335, (60, 7)],
    },
    "graph/grace_ssl": {
        "generator": "5bc7167545178df7",
        "edge_index": ["c9f4378ebf38f37e", (2, 179)],
        "nodes": ["f5c4cb24f4c9b43e", (20,)],
        "x": [89.43607181310654, 0.020957737236433127, 89.43607181310654, (60, 7)],
    },
    "tabular/breast_cancer/default": {
        "generator": "7a08c8dd50189dff",
        "x": [289.582818699535, -101.34079011557128, 1547.309095076751, (64, 30)],
    },
    "tabular/breast_cancer/scarf": {
        "generator": "ab714d0bc05703f1",
        "x": [287.321416488674, -101.2980445262805, 1534.4718000221183, (64, 30)],
    },
    "tabular/breast_cancer/weak": {
        "generator": "8d593497b07fd397",
        "x": [650.335726856254, -166.6974732441655, 1661.3756072586402, (64, 30)],
    },
    "tabular/adult/default": {
        "generator": "e04ffaab5d302c69",
        "x": [495.92332964763045, -13.933677606124405, 731.3261615745723, (64, 113)],
    },
    "tabular/adult/scarf": {
        "generator": "debf7b3ecc2fd430",
        "x": [495.61216103099287, -11.938266211127894, 728.9071430396289, (64, 113)],
    },
    "tabular/adult/weak": {
        "generator": "f5e99e9ecf2b0171",
        "x": [504.53429664485157, -5.529626276984177, 725.4473057445139, (64, 113)],
    },
}
